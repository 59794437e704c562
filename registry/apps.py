from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry cache"

    def ready(self) -> None:
        from .signals import create_roles_after_migrate

        post_migrate.connect(create_roles_after_migrate, sender=self)
