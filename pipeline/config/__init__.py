"""Configuration: the environment (:mod:`.settings`) and the use-case declarations (:mod:`.usecase`).

Both are typed pydantic models, read when asked for (never at import); an unknown key or a bad value is refused
with one line naming the file or variable and the key.
"""
