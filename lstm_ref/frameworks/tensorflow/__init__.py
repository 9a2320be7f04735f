"""What the TensorFlow-based framework packages share (Keras on TensorFlow, tf_keras, TF1
cells): stepping a cell over a sequence, and tf_keras seen through Keras 3's API."""

__all__ = []
