"""The installation key: created with the table, so every database has its own from the start."""

import uuid

from django.db import migrations, models

import tigateway_channels.models


def create_installation(apps, schema_editor):
    Installation = apps.get_model("tigateway_channels", "Installation")
    db = schema_editor.connection.alias
    if not Installation.objects.using(db).exists():
        Installation.objects.using(db).create(key=uuid.uuid4().hex)


class Migration(migrations.Migration):
    dependencies = [
        ("tigateway_channels", "0002_gateway_configs"),
    ]

    operations = [
        migrations.CreateModel(
            name="Installation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(default=tigateway_channels.models._new_installation_key, max_length=32, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RunPython(create_installation, migrations.RunPython.noop),
    ]
