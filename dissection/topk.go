package dissection

// topK keeps the k images with the largest maximum activation of one unit.
// Ties go to the smaller id so the list does not depend on batch order.
type topK struct {
	k    int
	ids  []int64
	acts []float32
}

func (t *topK) better(act float32, id int64, i int) bool {
	return act > t.acts[i] || (act == t.acts[i] && id < t.ids[i])
}

func (t *topK) add(id int64, act float32) {
	if act != act || t.k <= 0 {
		return
	}
	n := len(t.ids)
	if n == t.k && !t.better(act, id, n-1) {
		return
	}
	if n < t.k {
		t.ids = append(t.ids, 0)
		t.acts = append(t.acts, 0)
		n++
	}
	// Insertion sort from the tail; k is small (tens).
	i := n - 1
	for i > 0 && t.better(act, id, i-1) {
		t.ids[i], t.acts[i] = t.ids[i-1], t.acts[i-1]
		i--
	}
	t.ids[i], t.acts[i] = id, act
}
