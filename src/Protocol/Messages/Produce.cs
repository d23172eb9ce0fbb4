namespace DetKafka.Core.Protocol.Messages;

public sealed partial class ProduceRequest
{
    /// <summary>Lets go of the request buffer the records point into (a reused instance outlives it).</summary>
    internal void ReleaseRecords()
    {
        foreach (var t in TopicData)
            foreach (var p in t.PartitionData) p.Records = null;
    }
}
