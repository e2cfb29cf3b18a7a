"""A multi-hart RISC-V machine over unicorn, built to judge SMP memory allocators."""

__version__ = "0.1.0"
