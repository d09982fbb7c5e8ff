"""Every public entry point checks what it is given, before any work: a table of bad inputs
across lmcore's API, each asserting the exception type (TypeError for a wrong type, ValueError
for a wrong value) and that the message names the argument."""

import math
import re
from functools import cache

import numpy as np
import pytest
import torch

from lmcore import attention as A
from lmcore import bert as B
from lmcore import (
    budget,
    checkpoints,
    classify,
    costs,
    data,
    display,
    encoding,
    exercises,
    gpt,
    news,
    plot,
    pretraining,
    retrieval,
    scoring,
)
from lmcore import newsgroups as N
from lmcore import train as TR
from lmcore import transformer as T
from lmcore.news import ProjectConfig
from lmcore.train import set_dropout
from tests.reference import tiny_bert_config

q = torch.randn(2, 3, 4)
TINY = tiny_bert_config(vocab_size=30522, hidden_size=8, intermediate_size=16, max_position_embeddings=16)
IDS = torch.randint(5, 50, (2, 6))


@cache
def tiny_bert():
    return B.BertModel(TINY).eval()


def tiny_classifier():
    return B.BertForSequenceClassification(TINY, num_labels=2)


def empty_folder():
    import tempfile

    return tempfile.mkdtemp(prefix="lmcore-empty-")


@cache
def tokenizer():
    return checkpoints.load_tokenizer()


@cache
def seq2seq():
    return T.Seq2SeqTransformer(
        20, 20, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16, max_len=12
    )


@cache
def tiny_gpt():
    return gpt.DecoderOnlyLM(vocab_size=10, context=8, d_model=8, num_heads=2, num_layers=1)


class NoMaskTokenizer:
    mask_token_id = None
    all_special_ids = [0, 1]

    def __len__(self):
        return 10


def one_batch():
    return [(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))]


def fit(**options):
    model = torch.nn.Linear(2, 2)
    return TR.fit(model, [torch.zeros(2, 2)], lambda m, b: m(b).sum(), progress=False, **options)


def fine_tune(labels, texts=("a text", "another text")):
    classifier = B.BertForSequenceClassification(TINY, num_labels=2)
    return classify.fine_tune(
        classifier, tokenizer(), list(texts), labels, view=encoding.TextView(8), epochs=1
    )


# (id, call, exception type, the argument the message must name)
CASES = [
    # ---------------------------------------------------------------- attention
    ("sdpa query not a tensor", lambda: A.scaled_dot_product_attention([[1.0]], q, q), TypeError, "query"),
    ("sdpa key not a tensor", lambda: A.scaled_dot_product_attention(q, "k", q), TypeError, "key"),
    ("sdpa integer value", lambda: A.scaled_dot_product_attention(q, q, q.long()), TypeError, "value"),
    ("sdpa 1-D query", lambda: A.scaled_dot_product_attention(q[0, 0], q, q), ValueError, "query"),
    ("sdpa 5-D key", lambda: A.scaled_dot_product_attention(q, q[None, None], q), ValueError, "key"),
    (
        "sdpa widths differ",
        lambda: A.scaled_dot_product_attention(q, torch.randn(2, 3, 5), q),
        ValueError,
        "d_k",
    ),
    (
        "sdpa value length",
        lambda: A.scaled_dot_product_attention(q, q, torch.randn(2, 4, 4)),
        ValueError,
        "value",
    ),
    ("sdpa dtypes differ", lambda: A.scaled_dot_product_attention(q, q.double(), q), TypeError, "dtype"),
    ("sdpa float mask", lambda: A.scaled_dot_product_attention(q, q, q, torch.ones(3, 3)), TypeError, "mask"),
    (
        "sdpa mask shape",
        lambda: A.scaled_dot_product_attention(q, q, q, torch.ones(4, 4, dtype=torch.bool)),
        ValueError,
        "mask",
    ),
    ("sdpa dropout 1.5", lambda: A.scaled_dot_product_attention(q, q, q, dropout=1.5), ValueError, "dropout"),
    (
        "sdpa dropout -0.1",
        lambda: A.scaled_dot_product_attention(q, q, q, dropout=-0.1),
        ValueError,
        "dropout",
    ),
    (
        "sdpa dropout str",
        lambda: A.scaled_dot_product_attention(q, q, q, dropout="0.1"),
        TypeError,
        "dropout",
    ),
    (
        "sdpa dropout nan",
        lambda: A.scaled_dot_product_attention(q, q, q, dropout=math.nan),
        ValueError,
        "dropout",
    ),
    ("causal_mask 0", lambda: A.causal_mask(0), ValueError, "size"),
    ("causal_mask -3", lambda: A.causal_mask(-3), ValueError, "size"),
    ("causal_mask 2.5", lambda: A.causal_mask(2.5), TypeError, "size"),
    ("causal_mask True", lambda: A.causal_mask(True), TypeError, "size"),
    ("padding_mask list", lambda: A.padding_mask([[1, 0]]), TypeError, "attention_mask"),
    ("padding_mask float", lambda: A.padding_mask(torch.ones(2, 3)), TypeError, "attention_mask"),
    ("padding_mask value 2", lambda: A.padding_mask(torch.tensor([[1, 2]])), ValueError, "attention_mask"),
    (
        "padding_mask 3-D",
        lambda: A.padding_mask(torch.ones(1, 2, 3, dtype=torch.long)),
        ValueError,
        "attention_mask",
    ),
    ("MHA d_model 0", lambda: A.MultiHeadAttention(0, 2), ValueError, "d_model"),
    ("MHA heads 0", lambda: A.MultiHeadAttention(8, 0), ValueError, "num_heads"),
    ("MHA not divisible", lambda: A.MultiHeadAttention(10, 3), ValueError, "num_heads"),
    ("MHA dropout 1.0", lambda: A.MultiHeadAttention(8, 2, dropout=1.0), ValueError, "dropout"),
    ("MHA heads float", lambda: A.MultiHeadAttention(8, 2.0), TypeError, "num_heads"),
    ("MHA width", lambda: A.MultiHeadAttention(8, 2)(torch.randn(1, 3, 6)), ValueError, "query"),
    ("MHA 2-D input", lambda: A.MultiHeadAttention(8, 2)(torch.randn(3, 8)), ValueError, "query"),
    (
        "MHA batch sizes",
        lambda: A.MultiHeadAttention(8, 2)(torch.randn(1, 3, 8), torch.randn(2, 3, 8)),
        ValueError,
        "batch",
    ),
    (
        "MHA integer input",
        lambda: A.MultiHeadAttention(8, 2)(torch.ones(1, 3, 8, dtype=torch.long)),
        TypeError,
        "query",
    ),
    (
        "copy_from_torch wrong types",
        lambda: A.copy_from_torch_multihead("ours", torch.nn.Linear(2, 2)),
        TypeError,
        "MultiHeadAttention",
    ),
    # ---------------------------------------------------------------- transformer
    ("sinusoidal odd width", lambda: T.sinusoidal_positional_encoding(10, 7), ValueError, "d_model"),
    ("sinusoidal max_len 0", lambda: T.sinusoidal_positional_encoding(0, 8), ValueError, "max_len"),
    (
        "PositionalEncoding too long",
        lambda: T.PositionalEncoding(8, max_len=4)(torch.zeros(1, 5, 8)),
        ValueError,
        "max_len",
    ),
    ("PositionalEncoding 2-D", lambda: T.PositionalEncoding(8)(torch.zeros(5, 8)), ValueError, "x"),
    ("FeedForward activation", lambda: T.FeedForward(8, 16, activation="tanh"), ValueError, "activation"),
    ("FeedForward activation None", lambda: T.FeedForward(8, 16, activation=None), TypeError, "activation"),
    (
        "DecoderLayer target width",
        lambda: T.DecoderLayer(8, 2, 16)(torch.randn(1, 3, 6), torch.randn(1, 4, 8)),
        ValueError,
        "target",
    ),
    (
        "DecoderLayer 2-D memory",
        lambda: T.DecoderLayer(8, 2, 16)(torch.randn(1, 3, 8), torch.randn(4, 8)),
        ValueError,
        "memory",
    ),
    ("FeedForward dropout", lambda: T.FeedForward(8, 16, dropout=2.0), ValueError, "dropout"),
    ("Encoder 0 layers", lambda: T.Encoder(0, 8, 2, 16), ValueError, "num_layers"),
    ("Decoder 0 layers", lambda: T.Decoder(0, 8, 2, 16), ValueError, "num_layers"),
    ("Seq2Seq vocab 0", lambda: T.Seq2SeqTransformer(0, 10), ValueError, "source_vocab_size"),
    (
        "Seq2Seq float source",
        lambda: seq2seq()(torch.ones(1, 3), torch.ones(1, 3, dtype=torch.long)),
        TypeError,
        "source",
    ),
    (
        "Seq2Seq id out of range",
        lambda: seq2seq()(torch.full((1, 3), 25), torch.ones(1, 3, dtype=torch.long)),
        ValueError,
        "source",
    ),
    (
        "Seq2Seq target too long",
        lambda: seq2seq()(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 13, dtype=torch.long)),
        ValueError,
        "target",
    ),
    (
        "Seq2Seq empty source",
        lambda: seq2seq()(torch.ones(1, 0, dtype=torch.long), torch.ones(1, 2, dtype=torch.long)),
        ValueError,
        "source",
    ),
    # ---------------------------------------------------------------- BERT
    (
        "BertConfig activation",
        lambda: B.BertModel(B.BertConfig(hidden_act="swish")),
        ValueError,
        "hidden_act",
    ),
    ("BERT float ids", lambda: tiny_bert()(torch.ones(1, 3)), TypeError, "input_ids"),
    ("BERT ids list", lambda: tiny_bert()([[1, 2]]), TypeError, "input_ids"),
    ("BERT id out of range", lambda: tiny_bert()(torch.full((1, 3), 40_000)), ValueError, "input_ids"),
    ("BERT negative id", lambda: tiny_bert()(torch.full((1, 3), -1)), ValueError, "input_ids"),
    (
        "BERT too long",
        lambda: tiny_bert()(torch.ones(1, 17, dtype=torch.long)),
        ValueError,
        "max_position_embeddings",
    ),
    (
        "BERT mask shape",
        lambda: tiny_bert()(IDS, torch.ones(2, 5, dtype=torch.long)),
        ValueError,
        "attention_mask",
    ),
    ("BERT mask value 2", lambda: tiny_bert()(IDS, torch.full((2, 6), 2)), ValueError, "attention_mask"),
    ("BERT float mask", lambda: tiny_bert()(IDS, torch.ones(2, 6)), TypeError, "attention_mask"),
    (
        "BERT float token types",
        lambda: tiny_bert()(IDS, None, torch.zeros(2, 6)),
        TypeError,
        "token_type_ids",
    ),
    (
        "BERT token type 2",
        lambda: tiny_bert()(IDS, None, torch.full((2, 6), 2)),
        ValueError,
        "token_type_ids",
    ),
    (
        "BERT token types shape",
        lambda: tiny_bert()(IDS, None, torch.zeros(2, 5, dtype=torch.long)),
        ValueError,
        "token_type_ids",
    ),
    (
        "classifier pooling",
        lambda: B.BertForSequenceClassification(TINY, 2, pooling="max"),
        ValueError,
        "pooling",
    ),
    ("classifier 1 label", lambda: B.BertForSequenceClassification(TINY, 1), ValueError, "num_labels"),
    (
        "classifier labels float",
        lambda: B.BertForSequenceClassification(TINY, 2.0),
        TypeError,
        "num_labels",
    ),
    ("classifier from a model", lambda: B.BertForSequenceClassification(tiny_bert(), 2), TypeError, "config"),
    (
        "load_classifier empty folder",
        lambda: checkpoints.load_classifier(empty_folder()),
        FileNotFoundError,
        "classifier.json",
    ),
    (
        "save_classifier a BertModel",
        lambda: checkpoints.save_classifier(tiny_bert(), empty_folder()),
        TypeError,
        "classifier",
    ),
    (
        "load_pretrained_weights a classifier",
        lambda: checkpoints.load_pretrained_weights(tiny_classifier()),
        TypeError,
        "model",
    ),
    ("load_pretrained checkpoint int", lambda: checkpoints.load_pretrained(3), TypeError, "checkpoint"),
    ("set_dropout 1.0", lambda: set_dropout(tiny_bert(), 1.0), ValueError, "probability"),
    # ---------------------------------------------------------------- pretraining
    (
        "mask_tokens probability 0",
        lambda: pretraining.mask_tokens(IDS, mask_id=4, special_ids=[0], vocab_size=50, probability=0.0),
        ValueError,
        "probability",
    ),
    (
        "mask_tokens probability 1.5",
        lambda: pretraining.mask_tokens(IDS, mask_id=4, special_ids=[0], vocab_size=50, probability=1.5),
        ValueError,
        "probability",
    ),
    (
        "mask_tokens 1-D ids",
        lambda: pretraining.mask_tokens(IDS[0], mask_id=4, special_ids=[0], vocab_size=50),
        ValueError,
        "input_ids",
    ),
    (
        "mask_tokens mask shape",
        lambda: pretraining.mask_tokens(
            IDS, mask_id=4, special_ids=[0], vocab_size=50, attention_mask=torch.ones(2, 5)
        ),
        ValueError,
        "attention_mask",
    ),
    (
        "nsp pairs: one document",
        lambda: pretraining.make_nsp_pairs([["a b", "c d"]]),
        ValueError,
        "documents",
    ),
    (
        "objective without [MASK]",
        lambda: pretraining.PretrainingObjective(NoMaskTokenizer()),
        ValueError,
        "mask",
    ),
    ("split_sentences not a string", lambda: pretraining.split_sentences(["a. B."]), TypeError, "text"),
    (
        "encode_pairs max_length 0",
        lambda: pretraining.encode_pairs(tokenizer(), [("a", "b", 0)], 0, 2),
        ValueError,
        "max_length",
    ),
    # ---------------------------------------------------------------- data
    ("pad_batch empty", lambda: data.pad_batch([]), ValueError, "sequences"),
    (
        "date data year 0",
        lambda: data.make_date_translation_data(10, 5, first_year=0, last_year=5),
        ValueError,
        "first_year",
    ),
    (
        "date data years reversed",
        lambda: data.make_date_translation_data(10, 5, first_year=2000, last_year=1990),
        ValueError,
        "first_year",
    ),
    ("date data n_train 0", lambda: data.make_date_translation_data(0, 5), ValueError, "n_train"),
    ("date data n_test -1", lambda: data.make_date_translation_data(10, -1), ValueError, "n_test"),
    (
        "date data year 10000",
        lambda: data.make_date_translation_data(10, 5, last_year=10_000),
        ValueError,
        "last_year",
    ),
    ("translation_batches 0", lambda: data.translation_batches([], None, None, 0), ValueError, "batch_size"),
    ("Vocabulary.decode outside", lambda: data.Vocabulary(["a"]).decode([9]), ValueError, "id"),
    ("Vocabulary.encode a sentence", lambda: data.Vocabulary(["a"]).encode("a b c"), TypeError, "tokens"),
    # ---------------------------------------------------------------- training
    ("fit epochs 0", lambda: fit(epochs=0), ValueError, "epochs"),
    ("fit lr 0", lambda: fit(lr=0.0), ValueError, "lr"),
    ("fit lr -1", lambda: fit(lr=-1.0), ValueError, "lr"),
    ("fit lr nan", lambda: fit(lr=math.nan), ValueError, "lr"),
    ("fit weight_decay -0.1", lambda: fit(weight_decay=-0.1), ValueError, "weight_decay"),
    ("fit max_grad_norm -1", lambda: fit(max_grad_norm=-1.0), ValueError, "max_grad_norm"),
    ("fit max_grad_norm 0", lambda: fit(max_grad_norm=0.0), ValueError, "max_grad_norm"),
    ("fit warmup 1.0", lambda: fit(warmup_fraction=1.0), ValueError, "warmup_fraction"),
    ("fit eval_every 0", lambda: fit(eval_every=0, evaluate=lambda m: {}), ValueError, "eval_every"),
    ("fit log_every 0", lambda: fit(log_every=0), ValueError, "log_every"),
    (
        "fit empty batches",
        lambda: TR.fit(torch.nn.Linear(2, 2), [], lambda m, b: 0, progress=False),
        ValueError,
        "train_batches",
    ),
    ("fit not a model", lambda: TR.fit("model", [1], lambda m, b: 0, progress=False), TypeError, "model"),
    (
        "warmup_then_decay warmup > total",
        lambda: TR.warmup_then_decay(torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1), 5, 3),
        ValueError,
        "warmup_steps",
    ),
    (
        "parameter_groups weight_decay -1",
        lambda: TR.parameter_groups(torch.nn.Linear(1, 1), -1.0),
        ValueError,
        "weight_decay",
    ),
    ("shard_batch uneven", lambda: TR.shard_batch(torch.zeros(3, 2), 0, 2), ValueError, "batch"),
    # ---------------------------------------------------------------- classification
    ("encode_texts a string", lambda: encoding.encode_texts(tokenizer(), "one text"), TypeError, "texts"),
    ("encode_texts empty", lambda: encoding.encode_texts(tokenizer(), []), ValueError, "texts"),
    ("encode_texts numbers", lambda: encoding.encode_texts(tokenizer(), [1, 2]), TypeError, "texts"),
    (
        "TextView max_length 4",
        lambda: encoding.TextView(4),
        ValueError,
        "max_length",
    ),
    (
        "TextView truncation",
        lambda: encoding.TextView(16, "tail"),
        ValueError,
        "truncation",
    ),
    (
        "TextView head_share 1",
        lambda: encoding.TextView(16, "head+tail", head_share=1.0),
        ValueError,
        "head_share",
    ),
    (
        "TextView windows -1",
        lambda: encoding.TextView(16, windows=-1),
        ValueError,
        "windows",
    ),
    (
        "predict a string",
        lambda: classify.predict(tiny_classifier(), tokenizer(), "one text"),
        TypeError,
        "texts",
    ),
    (
        "buckets float labels",
        lambda: encoding.length_bucketed_batches([[1, 2]], [0.5], 2),
        TypeError,
        "labels",
    ),
    (
        "buckets negative label",
        lambda: encoding.length_bucketed_batches([[1, 2]], [-1], 2),
        ValueError,
        "labels",
    ),
    (
        "buckets label count",
        lambda: encoding.length_bucketed_batches([[1, 2]], [0, 1], 2),
        ValueError,
        "labels",
    ),
    (
        "buckets batch_size 0",
        lambda: encoding.length_bucketed_batches([[1, 2]], [0], 0),
        ValueError,
        "batch_size",
    ),
    ("buckets no texts", lambda: encoding.length_bucketed_batches([], [], 2), ValueError, "encodings"),
    ("fine_tune label out of range", lambda: fine_tune([0, 2]), ValueError, "labels"),
    ("fine_tune float labels", lambda: fine_tune([0.0, 1.0]), TypeError, "labels"),
    ("fine_tune labels count", lambda: fine_tune([0]), ValueError, "labels"),
    (
        "freeze_lower_layers -1",
        lambda: classify.freeze_lower_layers(tiny_classifier(), -1),
        ValueError,
        "layers",
    ),
    (
        "freeze_lower_layers 2.0",
        lambda: classify.freeze_lower_layers(tiny_classifier(), 2.0),
        TypeError,
        "layers",
    ),
    (
        "freeze_lower_layers too many",
        lambda: classify.freeze_lower_layers(tiny_classifier(), 2),
        ValueError,
        "layers",
    ),
    ("new_classifier dropout 1", lambda: classify.new_classifier(3, dropout=1.0), ValueError, "dropout"),
    ("new_classifier num_labels 1", lambda: classify.new_classifier(1), ValueError, "num_labels"),
    ("show_source nothing", lambda: display.show_source(), TypeError, "at least one"),
    ("encode_windows a length", lambda: encoding.encode_windows(tokenizer(), ["a"], 16), TypeError, "view"),
    ("average_views owners", lambda: encoding.average_views(np.ones((2, 2)), [0], 1), ValueError, "owners"),
    ("tfidf texts and labels", lambda: scoring.tfidf_baseline(["a", "b"], [0], ["c"]), ValueError, "labels"),
    # ---------------------------------------------------------------- project
    ("ProjectConfig train_limit 0", lambda: ProjectConfig(train_limit=0), ValueError, "train_limit"),
    ("ProjectConfig test_limit -5", lambda: ProjectConfig(test_limit=-5), ValueError, "test_limit"),
    ("ProjectConfig epochs 1.5", lambda: ProjectConfig(epochs=1.5), TypeError, "epochs"),
    ("ProjectConfig lr 0", lambda: ProjectConfig(lr=0.0), ValueError, "lr"),
    ("ProjectConfig dropout 1", lambda: ProjectConfig(dropout=1.0), ValueError, "dropout"),
    ("ProjectConfig pooling", lambda: ProjectConfig(pooling="max"), ValueError, "pooling"),
    ("ProjectConfig truncation", lambda: ProjectConfig(truncation="tail"), ValueError, "truncation"),
    ("ProjectConfig head_share -0.1", lambda: ProjectConfig(head_share=-0.1), ValueError, "head_share"),
    ("ProjectConfig setting", lambda: ProjectConfig(setting="clean"), ValueError, "setting"),
    ("ProjectConfig bf16 'yes'", lambda: ProjectConfig(bf16="yes"), TypeError, "bf16"),
    (
        "ProjectConfig validation 0.6",
        lambda: ProjectConfig(validation_fraction=0.6),
        ValueError,
        "validation_fraction",
    ),
    ("ProjectConfig freeze_layers -1", lambda: ProjectConfig(freeze_layers=-1), ValueError, "freeze_layers"),
    ("ProjectConfig checkpoint 5", lambda: ProjectConfig(checkpoint=5), TypeError, "checkpoint"),
    ("load_run_results empty folder", lambda: news.load_run_results(empty_folder()), ValueError, "folder"),
    ("publish_run empty folder", lambda: news.publish_run(empty_folder()), ValueError, "folder"),
    ("published_run_dir setting", lambda: news.published_run_dir("clean"), ValueError, "setting"),
    # ---------------------------------------------------------------- data sets
    ("newsgroups subset", lambda: N.load_20newsgroups("dev"), ValueError, "subset"),
    ("newsgroups remove", lambda: N.load_20newsgroups("train", remove=("signatures",)), ValueError, "remove"),
    # ---------------------------------------------------------------- GPT
    ("CharTokenizer empty text", lambda: gpt.CharTokenizer(""), ValueError, "text"),
    (
        "generate max_new_tokens -1",
        lambda: gpt.generate(tiny_gpt(), torch.tensor([1]), -1),
        ValueError,
        "max_new_tokens",
    ),
    (
        "generate temperature nan",
        lambda: gpt.generate(tiny_gpt(), torch.tensor([1]), 2, temperature=math.nan),
        ValueError,
        "temperature",
    ),
    (
        "generate temperature -1",
        lambda: gpt.generate(tiny_gpt(), torch.tensor([1]), 2, temperature=-1.0),
        ValueError,
        "temperature",
    ),
    (
        "generate empty prompt",
        lambda: gpt.generate(tiny_gpt(), torch.tensor([], dtype=torch.long), 2),
        ValueError,
        "prompt",
    ),
    ("generate prompt list", lambda: gpt.generate(tiny_gpt(), [1, 2], 2), TypeError, "prompt"),
    ("top_k 0", lambda: gpt.top_k_filter(torch.randn(5), 0), ValueError, "k"),
    ("GPT ids too long", lambda: tiny_gpt()(torch.ones(1, 9, dtype=torch.long)), ValueError, "context"),
    ("GPT float ids", lambda: tiny_gpt()(torch.ones(1, 3)), TypeError, "ids"),
    ("GPT id out of range", lambda: tiny_gpt()(torch.full((1, 3), 10)), ValueError, "ids"),
    (
        "generate 2-D prompt",
        lambda: gpt.generate(tiny_gpt(), torch.ones(1, 2, dtype=torch.long), 2),
        ValueError,
        "prompt",
    ),
    (
        "random_windows too short",
        lambda: gpt.random_windows(torch.ones(5, dtype=torch.long), 4, 2, 1, None),
        ValueError,
        "ids",
    ),
    ("CharTokenizer not a string", lambda: gpt.CharTokenizer(["a"]), TypeError, "text"),
    # ---------------------------------------------------------------- retrieval
    (
        "embed_texts a string",
        lambda: retrieval.embed_texts(tiny_bert(), tokenizer(), "one"),
        ValueError,
        "texts",
    ),
    ("search k 0", lambda: retrieval.search(torch.randn(1, 4), torch.randn(3, 4), k=0), ValueError, "k"),
    (
        "extractive_summary diversity 2",
        lambda: retrieval.extractive_summary(torch.randn(4, 3), 2, diversity=2.0),
        ValueError,
        "diversity",
    ),
    # ---------------------------------------------------------------- costs
    (
        "TransformerShape negative layers",
        lambda: costs.TransformerShape("x", "gpt", -2, 8, 2, 10, 8),
        ValueError,
        "layers",
    ),
    (
        "TransformerShape d_ff -1",
        lambda: costs.TransformerShape("x", "gpt", 2, 8, 2, 10, 8, d_ff=-1),
        ValueError,
        "d_ff",
    ),
    ("TransformerShape kind", lambda: costs.TransformerShape("x", "t5", 2, 8, 2, 10, 8), ValueError, "kind"),
    (
        "flops context 0",
        lambda: costs.flops_per_token(costs.KNOWN_SHAPES["BERT-base"], context=0),
        ValueError,
        "context",
    ),
    ("training_state_bytes -1", lambda: costs.training_state_bytes(-1), ValueError, "parameters"),
    (
        "transformer_parameters a dict",
        lambda: costs.transformer_parameters({"layers": 2}),
        TypeError,
        "shape",
    ),
    (
        "seconds_per_training_step repeats 0",
        lambda: costs.seconds_per_training_step(
            torch.nn.Linear(2, 2), lambda m, b: m(b).sum(), torch.zeros(1, 2), repeats=0
        ),
        ValueError,
        "repeats",
    ),
    # ---------------------------------------------------------------- notebooks' helpers
    ("seed -1", lambda: budget.seed_everything(-1), ValueError, "seed"),
    ("as_table a list", lambda: display.as_table([[1, 2]]), TypeError, "matrix"),
    (
        "as_table row labels",
        lambda: display.as_table(np.ones((2, 2)), row_labels=["a"]),
        ValueError,
        "row_labels",
    ),
    (
        "plot_attention 3-D",
        lambda: plot.plot_attention(torch.ones(2, 2, 2), ["a", "b"]),
        ValueError,
        "weights",
    ),
    (
        "plot_attention tokens",
        lambda: plot.plot_attention(torch.ones(2, 2), ["a"]),
        ValueError,
        "query_tokens",
    ),
    ("check_macro_f1 matrix", lambda: exercises.check_macro_f1(np.ones((2, 3)), 0.5), ValueError, "matrix"),
    ("check_causal_mask answer", lambda: exercises.check_causal_mask([[1]], 1), TypeError, "answer"),
    # ---------------------------------------------------------------- the last unclear errors (#28)
    (
        "greedy_decode max_new_tokens -3",
        lambda: seq2seq().greedy_decode(torch.ones(1, 3, dtype=torch.long), 1, 2, max_new_tokens=-3),
        ValueError,
        "max_new_tokens",
    ),
    (
        "mask_tokens mask_id outside the vocabulary",
        lambda: pretraining.mask_tokens(IDS, mask_id=40000, special_ids=[0], vocab_size=30522),
        ValueError,
        "mask_id",
    ),
    (
        "mask_tokens mask_id None",
        lambda: pretraining.mask_tokens(IDS, mask_id=None, special_ids=[0], vocab_size=30522),
        TypeError,
        "mask_id",
    ),
    (
        "mask_tokens probability str",
        lambda: pretraining.mask_tokens(
            IDS, mask_id=4, special_ids=[0], vocab_size=30522, probability="0.15"
        ),
        TypeError,
        "probability",
    ),
    (
        "mask_tokens only special tokens",
        lambda: pretraining.mask_tokens(
            torch.zeros(2, 4, dtype=torch.long), mask_id=4, special_ids=[0], vocab_size=30522
        ),
        ValueError,
        "input_ids",
    ),
    (
        "mask_tokens ids outside the vocabulary",
        lambda: pretraining.mask_tokens(IDS + 40000, mask_id=4, special_ids=[0], vocab_size=30522),
        ValueError,
        "input_ids",
    ),
    (
        "Vocabulary.encode a word",
        lambda: data.Vocabulary(["march", "may"]).encode("march"),
        TypeError,
        "tokens",
    ),
    ("pad_batch strings", lambda: data.pad_batch(["abc", "de"]), TypeError, "sequences"),
    ("pad_batch pad_id str", lambda: data.pad_batch([[1, 2]], pad_id="0"), TypeError, "pad_id"),
    (
        "Seq2SeqTransformer pad_id outside the vocabulary",
        lambda: T.Seq2SeqTransformer(
            20,
            20,
            d_model=8,
            num_heads=2,
            num_encoder_layers=1,
            num_decoder_layers=1,
            d_ff=16,
            max_len=12,
            pad_id=50,
        ),
        ValueError,
        "pad_id",
    ),
    (
        "BertConfig vocab_size 0",
        lambda: B.BertModel(tiny_bert_config(vocab_size=0)),
        ValueError,
        "vocab_size",
    ),
    ("fine_tune a None text", lambda: fine_tune([0, 1], texts=("a text", None)), TypeError, "texts"),
    (
        "fine_tune validation 3 texts 2 labels",
        lambda: classify.fine_tune(
            tiny_classifier(),
            tokenizer(),
            ["a", "b"],
            [0, 1],
            view=encoding.TextView(8),
            validation=(["a", "b", "c"], [0, 1]),
        ),
        ValueError,
        "validation",
    ),
    (
        "fit a vector loss",
        lambda: TR.fit(torch.nn.Linear(2, 2), [torch.zeros(2, 2)], lambda m, b: m(b).sum(0), progress=False),
        ValueError,
        "loss_fn",
    ),
    (
        "fit a float loss",
        lambda: TR.fit(torch.nn.Linear(2, 2), [torch.zeros(2, 2)], lambda m, b: 1.0, progress=False),
        TypeError,
        "loss_fn",
    ),
]


def test_the_table_is_large():
    assert len(CASES) >= 100
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, call, error_type, argument", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_with_a_clear_message(name, call, error_type, argument):
    with pytest.raises(Exception) as caught:
        call()
    assert type(caught.value) is error_type or isinstance(caught.value, error_type), (
        f"{name}: expected {error_type.__name__}, got {type(caught.value).__name__}: {caught.value}"
    )
    # the argument's own name, as a word: "lr" in "lr must be ...", not inside another word
    assert re.search(rf"(?<![A-Za-z_]){re.escape(argument)}(?![A-Za-z_])", str(caught.value)), (
        f"{name}: the message does not name {argument!r}: {caught.value}"
    )
