"""Network modules: one module per concept of the paper's Fig. 3."""
