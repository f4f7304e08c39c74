"""The six scenarios; each is ``run(env, config) -> ScenarioResult`` and starts what it needs itself."""
