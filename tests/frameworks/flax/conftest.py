"""Every test here runs JAX and Flax NNX: marked `framework` and `flax`, skipped (naming the
extra) when either is not installed."""

from tests.support.marks import mark_folder

pytest_collection_modifyitems = mark_folder(
    __file__, ("framework", "flax"), ("jax", "flax"), "flax")
