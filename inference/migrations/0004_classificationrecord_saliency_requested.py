# A heat map is queued once per request: the time of the last request, claimed by a conditional UPDATE.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inference", "0003_visitor_hash_leases_task_paths"),
    ]

    operations = [
        migrations.AddField(
            model_name="classificationrecord",
            name="saliency_requested",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
