"""Trainers: orbit trainer/evaluator implementations that own the loops."""
