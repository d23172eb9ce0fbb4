namespace DetKafka.Core.Protocol.Messages;

public sealed partial class MetadataRequest
{
    /// <summary>v0 cannot send a null array, and its empty array asks for every topic: read it as null, the
    /// meaning later versions give "all topics", so handlers see one meaning.</summary>
    partial void AfterRead(short version)
    {
        if (version < 1 && Topics is { Count: 0 }) Topics = null;
    }
}
