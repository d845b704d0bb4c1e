"""Entry point for ``python -m`` / ``accelerate launch -m hf_integration.pretrain_bert``."""

from hf_integration.pretrain_bert.cli import main

main()
