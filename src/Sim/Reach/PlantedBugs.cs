namespace DetKafka.Sim.Reach;

/// <summary>
/// Broker bugs planted on purpose (test-only, never drawn, never set by the swarm): each one is a mistake the
/// reference model or a new fault must catch, and tests/properties shows the sweep going red with it on within a
/// bounded number of seeds (SIMULATION.md, "Planted bugs"). Each maps to a BrokerConfig.TestOnly... switch or a
/// per-thread storage switch, so the broker code itself is not edited to plant them.
/// </summary>
[Flags]
public enum PlantedBugs
{
    None = 0,

    /// <summary>ListOffsets by timestamp answers the offset after the right one (BrokerConfig.TestOnlyListOffsetsOffByOne).</summary>
    ListOffsetsOffByOne = 1,

    /// <summary>DeleteRecords moves the log start offset in memory without writing its checkpoint, so a crash brings
    /// deleted records back (UnifiedLog.SkipLogStartCheckpointForTests).</summary>
    LostDeleteRecordsCheckpoint = 2,

    /// <summary>A sync that fails with EIO is treated as a success, so records are acknowledged that the disk never
    /// kept (BrokerConfig.TestOnlyIgnoreSyncErrors).</summary>
    IgnoredFsyncError = 4,

    /// <summary>IncrementalAlterConfigs answers success for a DELETE without removing the override
    /// (BrokerConfig.TestOnlyIgnoreConfigDeletes).</summary>
    IgnoredConfigDelete = 8,

    /// <summary>A produced batch's CRC is not checked, so a corrupt batch is acknowledged
    /// (BrokerConfig.TestOnlySkipBatchCrc); the malformed-input check must catch it.</summary>
    SkippedBatchCrc = 16,

    /// <summary>LeaveGroup answers success without removing the member (BrokerConfig.TestOnlyIgnoreLeaveGroup).</summary>
    IgnoredLeaveGroup = 32,

    /// <summary>EndTxn commits a transaction it was asked to abort (BrokerConfig.TestOnlyEndTxnCommitsAborts).</summary>
    EndTxnCommitsAborts = 64,

    /// <summary>The log cleaner drops some keys' latest record (LogCleaner.BreakForTests = DropLatest, a per-thread
    /// switch set for the run); the compaction checks of the swarm must catch it.</summary>
    CleanerDropsLatest = 128,

    /// <summary>Recovery trusts a loaded offset index without checking that its entries name batches
    /// (LogSegment.TrustIndexesForTests, a per-thread switch set for the run); the derived-file-damage fault must
    /// catch it.</summary>
    TrustedDamagedIndex = 256,

    /// <summary>EndTxn v5 does not bump the producer epoch (TransactionFaults.SkipEndTxnEpochBump, KIP-890 part 2),
    /// so a delayed EndTxn(commit) can commit the producer's next transaction; the delayed-end-txn fault in the
    /// transactional seeds must catch it (G1a).</summary>
    EndTxnSkipsEpochBump = 512,
}

public static class PlantedBugNames
{
    public static bool TryParse(string name, out PlantedBugs bug)
    {
        foreach (var b in Enum.GetValues<PlantedBugs>())
        {
            if (b != PlantedBugs.None && Kebab(b) == name)
            {
                bug = b;
                return true;
            }
        }
        bug = PlantedBugs.None;
        return false;
    }

    public static string Kebab(PlantedBugs bug)
    {
        var s = bug.ToString();
        var b = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) b.Append('-');
            b.Append(char.ToLowerInvariant(s[i]));
        }
        return b.ToString();
    }

    public static IEnumerable<string> All => Enum.GetValues<PlantedBugs>().Where(b => b != PlantedBugs.None).Select(Kebab);
}
