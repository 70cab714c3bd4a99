# Two fixes to the C that protoc-c 1.4 generates, applied to each header.
#
# 1. It names the members of a generated service struct after the methods,
#    lower-cased: "rpc Register" becomes a member called `register`, a C
#    keyword. Such members are renamed to `<keyword>_`.
# 2. Its `*__INIT` macros set string fields to `(char *)protobuf_c_empty_string`,
#    a cast that drops const. The headers are included as system headers, but
#    clang reports the cast at the place the macro is expanded, in our code, so
#    a clang build with -Wcast-qual -Werror fails on every `X__INIT`. The cast
#    goes through uintptr_t instead, the way our own code hands const strings
#    to protobuf-c's `char *` fields; the pointer stays the very same
#    protobuf_c_empty_string, which protobuf-c compares by address when it
#    frees a message.
# Usage: cmake -DHEADER=path.pb-c.h -P fix-generated.cmake
file(READ "${HEADER}" text)
foreach(kw register default case switch return continue break goto
        static extern auto volatile signed unsigned const sizeof typedef
        struct union enum inline restrict)
  string(REPLACE "(*${kw})(" "(*${kw}_)(" text "${text}")
endforeach()
string(REPLACE "(char *)protobuf_c_empty_string"
       "(char *)(uintptr_t)protobuf_c_empty_string" text "${text}")
file(WRITE "${HEADER}" "${text}")
