using DetKafka.Sim.Invariants;

namespace DetKafka.Sim.Reach;

/// <summary>
/// Reports the reference model's first violation as the run's verdict (InvariantViolation), named after what was
/// wrong ("model-list-offsets-timestamp", ...), at the event whose answer broke it.
/// </summary>
public sealed class ReferenceModelChecker : IInvariantChecker
{
    private string _name = "reference-model";

    public string Name => _name;

    public string? Check(InvariantContext context)
    {
        if (context.World.Admin is not { } admin || admin.Model.Violations.Count == 0) return null;
        var (name, message) = admin.Model.Violations[0];
        _name = name;
        return message;
    }
}
