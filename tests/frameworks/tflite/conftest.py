"""Every test here runs LiteRT (and TensorFlow's converter): marked `framework` and
`tflite`, skipped (naming the extra) when ai_edge_litert or TensorFlow is not installed."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(
    __file__, ("framework", "tflite"), ("ai_edge_litert", "tensorflow", "keras", "tf_keras"),
    "tflite")
