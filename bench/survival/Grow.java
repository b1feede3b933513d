// Grow SIZE — the JVM workload of bench/b-70-survival.sh: allocates byte[SIZE] until
// OutOfMemoryError, catches it, drops half and carries on (prints SURVIVED).
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

public class Grow {
    public static void main(String[] args) {
        int size = Integer.parseInt(args[0]);
        List<byte[]> keep = new ArrayList<>();
        try {
            for (;;) keep.add(new byte[size]);
        } catch (OutOfMemoryError e) {
            int n = keep.size();
            keep.subList(n / 2, n).clear();
            HashMap<Integer, String> m = new HashMap<>();
            for (int i = 0; i < 20000; i++) m.put(i, "v" + i);
            System.out.println("SURVIVED after " + n + " arrays (" + e.getMessage() + "), map " + m.size());
        }
    }
}
