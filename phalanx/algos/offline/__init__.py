"""Offline MARL: learners trained from a recorded dataset (an OG-MARL-layout Flashbax Vault).

``algo=bc`` (behaviour cloning, discrete or continuous actions), ``algo=iql_cql`` (independent
Q-learning with the CQL regulariser), ``algo=qmix_cql`` (QMIX with CQL on the mixed value; both
discrete) and ``algo=iddpg_bc`` (independent DDPG with a behaviour-cloning term; continuous,
:mod:`phalanx.algos.offline.iddpg_bc`) share one :class:`OfflineTrainer`; the runtime reads the
vault (``phalanx train ... data=PATH``) and hands its rows over as :class:`OfflineData`. See
``docs/offline.md``.
"""

from phalanx.algos.offline.config import OfflineConfig
from phalanx.algos.offline.data import OfflineData
from phalanx.algos.offline.iddpg_bc import IDDPGBCConfig, IDDPGBCTrainer
from phalanx.algos.offline.iddpg_bc import make_train as make_iddpg_bc
from phalanx.algos.offline.train import OfflineMetrics, OfflineState, OfflineTrainer, make_train
from phalanx.algos.registry import Algorithm, register_algorithm

register_algorithm(Algorithm("bc", OfflineConfig, make_train, {"method": "bc"},
                             "offline: behaviour cloning of a dataset (data=PATH)", offline=True))
register_algorithm(Algorithm("iql_cql", OfflineConfig, make_train, {"method": "iql_cql"},
                             "offline: independent Q-learning + CQL on a dataset (data=PATH)", offline=True))
register_algorithm(Algorithm("qmix_cql", OfflineConfig, make_train, {"method": "qmix_cql"},
                             "offline: QMIX + CQL on the mixed value, one mixer per group (data=PATH)",
                             offline=True))
register_algorithm(Algorithm("iddpg_bc", IDDPGBCConfig, make_iddpg_bc, {},
                             "offline: independent DDPG + behaviour cloning, TD3+BC-weighted (continuous; data=PATH)",
                             offline=True))

__all__ = ["IDDPGBCConfig", "IDDPGBCTrainer", "OfflineConfig",
           "OfflineData", "OfflineMetrics", "OfflineState", "OfflineTrainer", "make_train"]
