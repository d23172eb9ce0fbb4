using DetKafka.Host.Configuration;
using Xunit;

namespace DetKafka.Properties.Host;

/// <summary>The transaction coordinator's settings reach the broker from a server.properties file and from
/// DETKAFKA_ variables (TRANSACTIONS.md), and a bad value is refused at start-up.</summary>
public sealed class TransactionSettingsTests
{
    private static ServerSettings Resolve(Dictionary<string, string>? env = null, string? file = null)
        => ServerOptions.Resolve(new ServeArguments(), env ?? new Dictionary<string, string>(), file, "server.properties", "myhost");

    [Fact]
    public void Transaction_settings_reach_the_broker_config()
    {
        var s = Resolve(
            env: new Dictionary<string, string> { ["DETKAFKA_TRANSACTIONAL_ID_EXPIRATION_MS"] = "60000" },
            file: "transaction.max.timeout.ms=120000\ntransaction.state.log.num.partitions=3\n" +
                  "transaction.abort.timed.out.transaction.cleanup.interval.ms=500\ntransaction.remove.expired.transaction.cleanup.interval.ms=700\n");
        var c = s.ToBrokerConfig(9092);
        Assert.Equal(120_000, c.TransactionMaxTimeoutMs);
        Assert.Equal(3, c.TransactionStateLogNumPartitions);
        Assert.Equal(60_000, c.TransactionalIdExpirationMs);
        Assert.Equal(500, c.TransactionAbortTimedOutTransactionCleanupIntervalMs);
        Assert.Equal(700, c.TransactionRemoveExpiredTransactionCleanupIntervalMs);
        Assert.Contains(s.Effective, e => e.Key == "transactional.id.expiration.ms" && e.Value == "60000");
    }

    [Fact]
    public void Defaults_are_kafkas()
    {
        var c = Resolve().ToBrokerConfig(9092);
        Assert.Equal(900_000, c.TransactionMaxTimeoutMs);
        Assert.Equal(604_800_000, c.TransactionalIdExpirationMs);
        Assert.Equal(50, c.TransactionStateLogNumPartitions);
    }

    [Fact]
    public void A_bad_value_is_refused()
        => Assert.Throws<ConfigException>(() => Resolve(file: "transaction.max.timeout.ms=0\n"));
}
