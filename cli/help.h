/* rpcctl's help texts, printed by --help and "rpcctl help". */
#ifndef RPCCTL_HELP_H
#define RPCCTL_HELP_H

extern const char rpcctl_main_help[];
extern const char rpcctl_call_help[];
extern const char rpcctl_health_help[];
extern const char rpcctl_keys_help[];
extern const char rpcctl_list_help[];
extern const char rpcctl_describe_help[];
extern const char rpcctl_help_help[];

#endif
