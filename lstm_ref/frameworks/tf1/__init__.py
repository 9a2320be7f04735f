"""TF1's LSTM cells, BasicLSTMCell and LSTMCell (tf_keras's legacy cells), run as
``tf.compat.v1.nn.dynamic_rnn`` runs them.

The face the package-level API dispatches to (lstm_ref.api): :func:`compare`,
:func:`from_tf1_cell`. Modules: ``cells`` (options, weights, the twin), ``runners`` (the
ways a whole sequence runs: eager, tf.function, a TF1 session, a tf_keras RNN), ``observe``
(the cell stepped and run, compared), ``cases`` (grid cases built and run).
"""

from lstm_ref.frameworks.tf1.cells import from_tf1_cell
from lstm_ref.frameworks.tf1.observe import compare

__all__ = ["compare", "from_tf1_cell"]
