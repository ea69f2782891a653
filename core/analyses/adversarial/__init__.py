"""Adversarial texts: what an attack may edit (:mod:`.candidates`), the attacks (:mod:`.attacks`: ``run_attack``)
and whether the DeepView map spots their results (:mod:`.detection`: ``run_detection``)."""
