"""Fund supervision (基金监管, DOMAIN.md §10): `model.py` the data contract, `rules.py` the pure
evaluation of the before/during rules, `after.py` the pure after-the-fact patterns and peer
outliers. Storage and the use cases live with settlement (services/settlement/supervision*.py)."""
