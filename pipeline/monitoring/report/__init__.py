"""The HTML report: its data (:mod:`.data`), its plots (:mod:`.plots`) and the page (:mod:`.render`)."""
