"""Offline data preparation: converters from other annotation layouts, frame extraction,
dataset checks and the synthetic-actions generator. Nothing here is needed at training time;
``tools/data/`` are the command-line front ends."""
