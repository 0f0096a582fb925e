import numpy as np
import pytest

from data_pipeline.tokenizer import CHAR32_VOCAB, get_tokenizer


def test_vocabulary_is_the_papers_exact_order():
    tok = get_tokenizer("char32")
    assert tok.vocab_size == 32
    assert CHAR32_VOCAB == " #+-.0123456789;=BKNOQRabcdefghx"
    assert tok.game_start_id == 15
    assert tok.encode(" #;x").tolist() == [0, 1, 15, 31]


def test_round_trip_of_a_transcript():
    tok = get_tokenizer()
    text = ";1.e4 e5 2.Nf3 Nc6 3.Bb5 a6 4.O-O Nf6 5.d8=Q+ Kxd8 6.Qh5#"
    ids = tok.encode(text)
    assert ids.dtype == np.uint8
    assert tok.decode(ids) == text
    assert tok.encode_bytes(text.encode()).tolist() == ids.tolist()


@pytest.mark.parametrize("text,bad", [("1.e4 {clk}", "{"), ("1.e4!", "!"), ("1.É4", "É")])
def test_symbols_outside_the_vocabulary_are_named(text, bad):
    with pytest.raises(ValueError, match=repr(bad)):
        get_tokenizer().encode(text)


def test_unknown_tokenizer_and_bad_ids_fail_loudly():
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        get_tokenizer("bpe")
    with pytest.raises(ValueError, match="outside"):
        get_tokenizer().decode([0, 32])
