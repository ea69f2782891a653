"""Cached access to models, datasets and analyses: the only door from pages to ``core``, one module per
domain (see :mod:`ui.cached.common` for how caching works). Pages call ``cached.NAME(...)``."""
from ui.cached.common import model_stamp, dataset_stamp, get_model, with_decoding_head  # noqa: F401
from ui.cached.workspace import DatasetView, dataset_view, evaluate, uploads_dir, save_upload  # noqa: F401
from ui.cached.projection import project, lambda_sweep  # noqa: F401
from ui.cached.saliency import ExampleTexts, example_texts, SaliencyView, explain, mlm_head_ready, MLM_FIT_SECONDS, fit_mlm_head, faithfulness_games, class_tokens  # noqa: F401
from ui.cached.compare import comparison  # noqa: F401
from ui.cached.adversarial import attack, detection  # noqa: F401
from ui.cached.multitask import multitask_options, get_multitask, train_multitask, training_minutes, synergy, multitask_task_refs  # noqa: F401
from ui.cached.transformer import METHOD_NAMES, layer_separability, layer_map, layer_entropy, topics, topic_map, head_importance, attention_maps, instance, entropy  # noqa: F401
from ui.cached.corpus import CorpusView, corpus, region_texts  # noqa: F401
from ui.cached import estimates  # noqa: F401 - cached.estimates.games(...) etc.: time estimates measured here
