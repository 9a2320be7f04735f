"""The tests here run frameworks (each skips where its own is missing): marked `framework`."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(__file__, ("framework",))
