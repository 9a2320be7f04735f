"""Every test here runs the tf1 framework package: marked `framework` and `tf1`,
skipped (naming the extra) when its framework is not installed."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(
    __file__, ("framework", "tf1"), ("tf_keras",), "tf_keras")
