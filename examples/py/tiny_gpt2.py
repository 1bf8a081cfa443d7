"""The Python side of examples/dependencies-and-models.ts: a Hugging Face model kept loaded."""
from typing import TypedDict

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL = "sshleifer/tiny-gpt2"  # a 2-layer GPT-2 with random weights: tiny, and its text is noise


class Generated(TypedDict):
    device: str
    text: str


class Generator:
    def __init__(self):
        # hfModels put the files in the worker's Hugging Face cache before this runs, so
        # from_pretrained reads the disk; nothing is downloaded inside the constructor.
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(MODEL)
        self.model = AutoModelForCausalLM.from_pretrained(MODEL).to(self.device).eval()

    def generate(self, prompt: str, max_new_tokens: int = 8) -> Generated:
        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.eos_token_id)
        return {"device": self.device, "text": self.tokenizer.decode(out[0], skip_special_tokens=True)}
