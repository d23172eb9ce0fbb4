namespace DetKafka.Core.Util;

/// <summary>
/// Objects kept for reuse on the hot paths (waiting produces and fetches with their requests and responses),
/// so a steady stream of requests allocates nothing. Last in, first out, which is deterministic. Bounded:
/// beyond <c>capacity</c> idle objects, returned ones are left to the GC.
/// </summary>
internal sealed class ObjectPool<T>(Func<T> create, int capacity) where T : class
{
    private readonly Stack<T> _idle = new();

    public int IdleCount => _idle.Count;

    public T Rent() => _idle.TryPop(out var item) ? item : create();

    public void Return(T item)
    {
        if (_idle.Count < capacity) _idle.Push(item);
    }
}

/// <summary>Decoding or building into reused lists: element <c>index</c> again, or a new one appended.</summary>
internal static class Reuse
{
    public static T Slot<T>(List<T> list, int index) where T : class, new()
    {
        Check.That(index >= 0 && index <= list.Count, "slots are taken in order");
        if (index < list.Count) return list[index];
        var item = new T();
        list.Add(item);
        return item;
    }

    /// <summary>Drops elements past <paramref name="count"/> (the previous use had more).</summary>
    public static void Truncate<T>(List<T> list, int count)
    {
        if (list.Count > count) list.RemoveRange(count, list.Count - count);
    }
}
