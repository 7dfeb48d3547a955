"""Loading a Hugging Face tokenizer without transformers' false "incorrect regex pattern" warning."""

from __future__ import annotations

from pathlib import Path


def load_tokenizer(location: str | Path, **kwargs):
    """``AutoTokenizer.from_pretrained(location)``, telling transformers there is no Mistral regex to fix.

    transformers 4.57.3 up to 5.0 take every local tokenizer whose config.json those versions wrote for a
    Mistral tokenizer, and warn that its pre-tokenizer regex is wrong (huggingface/transformers#44031).
    The encoders loaded here (BERT, XLM-R, RoBERTa, e5) have no such regex; following the warning's
    advice (``fix_mistral_regex=True``) would replace their pre-tokenizer and change every token id.
    ``False`` is the flag's do-nothing value, so it only keeps the warning quiet.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(location, fix_mistral_regex=False, **kwargs)
