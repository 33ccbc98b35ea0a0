"""What every learner shares: the :class:`Learner` protocol, fixed opponents, inputs, statistics, targets, metrics."""

from phalanx.algos.common.episodes import BaseMetrics, EpisodeSums, active_agents, base_metrics, episode_starts
from phalanx.algos.common.inputs import agent_inputs, flatten_obs, with_agent_id
from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.common.opponents import Opponents, check_learners, check_opponents, draw_members, opponent_actions
from phalanx.algos.common.protocol import Learner, act_all, train
from phalanx.algos.common.targets import masked_mean, polyak, td_target

__all__ = ["BaseMetrics", "EpisodeSums", "Learner", "Opponents", "RunningStats", "act_all", "active_agents",
           "agent_inputs", "base_metrics", "check_learners", "check_opponents", "draw_members", "episode_starts",
           "flatten_obs", "masked_mean", "opponent_actions", "polyak", "td_target", "train", "with_agent_id"]
