//! Live counts per table slot in a Fenwick (binary indexed) tree: the position of a slot is
//! the number of live slots before it, and the slot at a position is found by descending the
//! tree. Both, and marking a slot dead, are O(log n); appending a live slot is O(log n) too.

pub struct Ranks {
    /// 1-based Fenwick tree: `tree[i]` counts the live slots in `(i - lowbit(i), i]`.
    tree: Vec<u32>,
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Ranks {
    /// Builds the tree over `n` slots in O(n).
    pub fn build(n: usize, live: impl Fn(usize) -> bool) -> Self {
        let mut tree = vec![0u32; n + 1];
        for i in 1..=n {
            tree[i] += u32::from(live(i - 1));
            let parent = i + lowbit(i);
            if parent <= n {
                tree[parent] += tree[i];
            }
        }
        Ranks { tree }
    }

    pub fn heap_bytes(&self) -> usize {
        self.tree.capacity() * 4
    }

    fn slots(&self) -> usize {
        self.tree.len() - 1
    }

    /// Live slots among the first `n` slots.
    fn prefix(&self, mut n: usize) -> usize {
        let mut sum = 0usize;
        while n > 0 {
            sum += self.tree[n] as usize;
            n -= lowbit(n);
        }
        sum
    }

    /// The number of live slots before `slot`.
    pub fn count_before(&self, slot: usize) -> usize {
        self.prefix(slot)
    }

    /// The slot of the `pos`-th live slot (0-based; the caller checked `pos < live`).
    pub fn nth(&self, pos: usize) -> usize {
        let n = self.slots();
        let mut at = 0usize;
        let mut rest = pos + 1;
        let mut step = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = at + step;
            if next <= n && (self.tree[next] as usize) < rest {
                at = next;
                rest -= self.tree[next] as usize;
            }
            step >>= 1;
        }
        at // the 1-based index `at + 1`, as a 0-based slot
    }

    /// Marks a live slot dead.
    pub fn remove(&mut self, slot: usize) {
        let mut i = slot + 1;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += lowbit(i);
        }
    }

    /// Appends a live slot.
    pub fn push_live(&mut self) {
        let i = self.tree.len();
        // tree[i] covers (i - lowbit(i), i]: this slot plus the live ones just before it.
        let covered = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.tree.push(1 + covered as u32);
    }

    /// Forgets the slots from `slots` on (a node depends only on slots at or before it).
    pub fn truncate(&mut self, slots: usize) {
        self.tree.truncate(slots + 1);
    }
}
