"""Where Optuna keeps its studies: SQLite by default, any SQLAlchemy URL (Postgres) by config."""


import dagster as dg


class OptunaStorage(dg.ConfigurableResource):
    url: str

    def storage(self):
        import optuna

        # Optuna creates its schema on first use; heartbeats let a dead worker's trials fail.
        return optuna.storages.RDBStorage(self.url, engine_kwargs={"pool_pre_ping": True})
