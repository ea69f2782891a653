"""The analyses: projection, saliency, comparison, synergy, adversarial texts and the transformer's insides."""
