from django.db import migrations, models


class Migration(migrations.Migration):
    """Each message's place in its room (``seq``: 1, 2, 3 … with no holes) and the room's
    newest (``message_seq``), so a client can tell that a broadcast was lost. Existing
    messages are numbered in id order, the order they committed in."""

    dependencies = [
        ("rooms", "0006_connection_presence_hot_updates"),
    ]

    operations = [
        migrations.AddField(
            model_name="room",
            name="message_seq",
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="message",
            name="seq",
            field=models.PositiveBigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunSQL(
            sql=[
                "UPDATE rooms_message SET seq = (SELECT COUNT(*) FROM rooms_message m"
                " WHERE m.room_id = rooms_message.room_id AND m.id <= rooms_message.id)",
                "UPDATE rooms_room SET message_seq = (SELECT COUNT(*) FROM rooms_message m"
                " WHERE m.room_id = rooms_room.id)",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(fields=("room", "seq"), name="message_room_seq"),
        ),
    ]
