"""Every test here builds deployed artifacts and runs them: marked `framework`. Each test skips
by itself, naming what is missing, when its kind's packages are not installed (the kinds
need different frameworks)."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(__file__, ("framework",))
