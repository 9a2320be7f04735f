"""Every test here runs the keras framework package: marked `framework` and `keras`,
skipped (naming the extra) when its framework is not installed."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(
    __file__, ("framework", "keras"), ("keras", "tensorflow"), "keras")
