"""Every test here exports Keras models as SavedModels and runs them in TensorFlow: marked
`framework` and `keras`, skipped (naming the extra) when TensorFlow or Keras is missing."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(
    __file__, ("framework", "keras"), ("tensorflow", "keras"), "keras")
