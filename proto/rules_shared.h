/* What the tables of rows (rules.c, rules_mfa.c) share: limits and
 * descriptions of fields that several messages have. Private to them. */
#ifndef RULES_SHARED_H
#define RULES_SHARED_H

#define RULES_PASSWORD_MAX 128

#define CLIENT_IP_DESC                                                        \
	"Set by the edge from the connection (the client's address); a "      \
	"value sent by the client is replaced."
#define USER_AGENT_DESC                                                       \
	"Set by the edge from the User-Agent header, at most 255 bytes; a "   \
	"value sent by the client is replaced."
#define CURRENT_PASSWORD_DESC                                                 \
	"The account's current password. A wrong one counts as a failed "     \
	"login for the username and the address."

#endif
