namespace DetKafka.Core.Protocol;

/// <summary>
/// Every generated message and field with the versions it exists in (MessageSchema.g.cs, from the specs).
/// Nothing in the broker reads it: it lets the property tests walk every field of every message at every
/// version without a hand-kept list that could drift from the specs.
/// </summary>
public static partial class MessageSchema
{
    public sealed record ApiSchema(ApiKey Key, string Name, short MinVersion, short MaxVersion, short FirstFlexibleVersion, Type Request, Type Response);

    /// <summary>A field of <paramref name="Owner"/> (the message or one of its nested structs). NullableMin is
    /// -1 when the field is never nullable; Tag is -1 for a field that is not tagged.</summary>
    public sealed record FieldSchema(ApiKey Key, Type Message, Type Owner, string Name, short MinVersion, short MaxVersion,
        short NullableMin, short NullableMax, int Tag, bool IsArray);
}
