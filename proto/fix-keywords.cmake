# protoc-c 1.4 names the members of a generated service struct after the
# methods, lower-cased: "rpc Register" becomes a member called `register`,
# a C keyword. Rename such members to `<keyword>_` in the generated header.
# Usage: cmake -DHEADER=path.pb-c.h -P fix-keywords.cmake
file(READ "${HEADER}" text)
foreach(kw register default case switch return continue break goto
        static extern auto volatile signed unsigned const sizeof typedef
        struct union enum inline restrict)
  string(REPLACE "(*${kw})(" "(*${kw}_)(" text "${text}")
endforeach()
file(WRITE "${HEADER}" "${text}")
