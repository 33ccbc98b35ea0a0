"""Flax modules shared by learners: MLP torsos, a scanned GRU, actor and critic heads."""

from phalanx.networks.modules import MLP, Actor, Critic, Dense, ScannedGRU

__all__ = ["MLP", "Actor", "Critic", "Dense", "ScannedGRU"]
