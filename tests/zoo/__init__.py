"""The engine tests' zoo: tiny named models (:mod:`zoo.models`) and what the engine is measured
against (:mod:`zoo.oracles`: Captum, tangermeme, deltas recomputed from the model, tolerances).

``python benchmarks/zoo_accuracy.py`` prints the accuracy table of every model.
"""
