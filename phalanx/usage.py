"""The text of ``phalanx --help``: static, so it answers before JAX (or any learner) is imported."""

USAGE = """usage: phalanx <command> [key=value ...]

commands:
  envs [--json]             list registered environments, groups and specs (tab-separated when piped)
  bench env=NAME [...]      random-action throughput (num_envs=, num_steps=, repeats=, env.KEY=)
  train env=NAME [...]      train a learner (log_every=, checkpoint_every=, num_workers=)
  psro env=NAME [...]       PSRO (population.oracle=exact|learned, population.meta_solver=, population.iterations=, ...)
  selfplay env=NAME [...]   self-play (population.mode=sp) or fictitious self-play (population.mode=fsp)
  league env=NAME [...]     AlphaStar-style league, any env with 2+ groups (league.total_steps=, league.scorer=, ...)
  eval run_dir=DIR [...]    trained policy vs uniform random (episodes=, seed=, greedy=, member=, render=, out=)
  render env=NAME [...]     a random-policy episode as a GIF/WebP (policy=random, out=, steps=, env.KEY=; poker: text)
  plot run_dir=DIR [...]    figures from run dirs: returns with 95% CI over seeds, PSRO payoffs/exploitability,
                            league Elo (several run_dir= overlaid; out=DIR|FILE.png, pool=true pools seeds)
  data record|info [...]    offline datasets: record env=E policy=RUN_DIR|random episodes=N out=DIR/NAME.vlt
                            [epsilon= quality=]; info PATH (episodes, returns, fields, a histogram PNG)
  config COMMAND [...]      print a command's resolved config (every key, with the env's defaults)

train, psro, selfplay and league share one grammar:
  env=NAME env.KEY=VALUE    the environment and its own settings
  algo=NAME train.KEY=VALUE the learner and its settings: ippo mappo iql vdn qmix maddpg isac masac;
                            offline (train data=PATH): bc iql_cql qmix_cql iddpg_bc;
                            train record=DIR/NAME.vlt also writes every training step to a dataset
  seed=N num_seeds=N        the seed, and seeds trained at once
  backend=local|ray ray.KEY=VALUE  where tasks run (ray.address=auto|HOST:PORT, ray.num_workers=N);
                            train on env=pettingzoo:...: remote actors (ray.num_actors=N, ray.envs_per_actor=K,
                            ray.max_policy_lag=L)
  run_dir=DIR | resume=DIR  where a new run writes, or the run to continue
  population.KEY=VALUE      psro/selfplay's own settings; league.KEY=VALUE the league's

examples:
  phalanx envs
  phalanx bench env=tag num_envs=1000 num_steps=100
  phalanx bench env=tag env.num_runners=990 env.num_taggers=10 env.use_full_observation=false
  phalanx train env=simple_spread algo=ippo train.total_steps=2e6 train.num_envs=256 seed=3 env.num_agents=3
  phalanx train resume=runs/simple_spread-ippo-20250101-120000
  phalanx eval run_dir=runs/simple_spread-ippo-20250101-120000 episodes=100
  phalanx render env=tag policy=random out=tag.gif
  phalanx plot run_dir=runs/a run_dir=runs/b out=compare.png
  phalanx psro env=kuhn_poker population.oracle=exact population.iterations=20
  phalanx psro env=leduc_poker algo=ippo population.oracle=learned population.iterations=30
  phalanx selfplay env=rock_paper_scissors population.mode=fsp population.iterations=50
  phalanx league env=tag league.total_steps=2e6 seed=0
  phalanx psro env=leduc_poker population.oracle=learned backend=ray ray.address=auto
  phalanx train env=pettingzoo:mpe2.simple_spread_v3 algo=ippo backend=ray ray.num_actors=4 train.num_envs=32
"""
