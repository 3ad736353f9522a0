! md_domain.f90: spatial decomposition of a periodic box over MPI ranks.
!
! The box is cut into slabs along x, one per rank. A rank OWNS the atoms
! whose x lies in its slab (positions, velocities, global ids) and holds
! GHOST copies of every atom within the cutoff rc of its slab, periodic
! images included. Ghosts are built in six swaps, LAMMPS-style: x-lower,
! x-upper (to the neighbouring ranks), then y and z (periodic images on the
! same rank). A swap selects from the owned atoms plus the ghosts of the
! earlier dimensions, so the corners come for free. The swaps are recorded,
! which gives the two operations a message-passing potential needs:
!   forward_comm: owners' per-atom values -> their ghost copies (node
!                 features between two interaction layers);
!   reverse_comm: values accumulated on ghosts -> added to their owners
!                 (forces, gradients of node features).
! One swap per direction needs a slab at least rc wide and a box at least rc
! long in y and z; domain_setup refuses anything else.
!
! Arrays are Fortran (component, atom): owned atoms 1..nlocal, then ghosts
! nlocal+1..nlocal+nghost.
module md_domain
  use mpi_f08
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none
  private
  public :: domain_t, domain_setup, domain_add, domain_exchange, domain_borders
  public :: forward_comm, reverse_comm, domain_owner

  type :: swap_t
    integer :: sendto = 0, recvfrom = 0, nsend = 0, nrecv = 0, first = 0
    integer, allocatable :: list(:)
  end type swap_t

  type :: domain_t
    type(MPI_Comm) :: comm
    integer :: rank = 0, nranks = 1, left = 0, right = 0
    real(dp) :: box(3) = 0, lo(3) = 0, hi(3) = 0, rc = 0
    integer :: nlocal = 0, nghost = 0
    ! Atoms this rank handed to its neighbours so far (domain_exchange).
    integer :: n_sent = 0
    real(dp), allocatable :: x(:, :), v(:, :)
    integer, allocatable :: gid(:)
    type(swap_t) :: swap(6)
  end type domain_t

contains

  ! Slabs for this communicator. ok = .false. (same on every rank) with a
  ! message when the box is too small for the cutoff at this rank count.
  subroutine domain_setup(d, comm, box, rc, ok, msg)
    type(domain_t), intent(inout) :: d
    type(MPI_Comm), intent(in) :: comm
    real(dp), intent(in) :: box(3), rc
    logical, intent(out) :: ok
    character(len=*), intent(out) :: msg
    d%comm = comm
    call MPI_Comm_rank(comm, d%rank)
    call MPI_Comm_size(comm, d%nranks)
    d%left = modulo(d%rank - 1, d%nranks)
    d%right = modulo(d%rank + 1, d%nranks)
    d%box = box
    d%rc = rc
    d%lo = 0
    d%hi = box
    d%lo(1) = d%rank * (box(1) / d%nranks)
    d%hi(1) = (d%rank + 1) * (box(1) / d%nranks)
    d%nlocal = 0
    d%nghost = 0
    ok = box(1) / d%nranks >= rc .and. box(2) >= rc .and. box(3) >= rc
    msg = ''
    if (.not. ok) write(msg, '(a,f0.4,a,f0.4,a,i0,a)') 'box too small: slabs of ', &
        box(1) / d%nranks, ' (box ', box(1), ' over ', d%nranks, &
        ' ranks) or the box in y / z is shorter than the cutoff; use more cells or fewer ranks'
    call grow(d, 1024)
  end subroutine domain_setup

  ! The rank whose slab holds x-coordinate x1 (in [0, box)).
  pure integer function domain_owner(d, x1)
    type(domain_t), intent(in) :: d
    real(dp), intent(in) :: x1
    domain_owner = min(d%nranks - 1, max(0, int(x1 / (d%box(1) / d%nranks))))
  end function domain_owner

  ! Room for n atoms (owned + ghosts), keeping what is there.
  subroutine grow(d, n)
    type(domain_t), intent(inout) :: d
    integer, intent(in) :: n
    real(dp), allocatable :: t(:, :)
    integer, allocatable :: ti(:)
    integer :: cap, old
    old = 0
    if (allocated(d%gid)) old = size(d%gid)
    if (n <= old) return
    cap = max(n, 2 * old)
    allocate(t(3, cap))
    t = 0
    if (old > 0) t(:, 1:old) = d%x
    call move_alloc(t, d%x)
    allocate(t(3, cap))
    t = 0
    if (old > 0) t(:, 1:old) = d%v
    call move_alloc(t, d%v)
    allocate(ti(cap))
    ti = 0
    if (old > 0) ti(1:old) = d%gid
    call move_alloc(ti, d%gid)
  end subroutine grow

  ! A new owned atom (call before any ghosts exist).
  subroutine domain_add(d, id, x, v)
    type(domain_t), intent(inout) :: d
    integer, intent(in) :: id
    real(dp), intent(in) :: x(3), v(3)
    call grow(d, d%nlocal + 1)
    d%nlocal = d%nlocal + 1
    d%x(:, d%nlocal) = x
    d%v(:, d%nlocal) = v
    d%gid(d%nlocal) = id
  end subroutine domain_add

  ! Wrap owned atoms into the box and hand those that left the slab to the
  ! neighbouring rank (an atom may cross one slab per call). Drops ghosts.
  ! ok = .false. (on this rank) when an atom jumped further.
  subroutine domain_exchange(d, ok)
    type(domain_t), intent(inout) :: d
    logical, intent(out) :: ok
    real(dp), allocatable :: sl(:, :), sr(:, :), rl(:, :), rr(:, :)
    integer :: i, k, o, nl, nr, nkeep
    d%nghost = 0
    ok = .true.
    do i = 1, d%nlocal
      do k = 1, 3
        d%x(k, i) = d%x(k, i) - d%box(k) * floor(d%x(k, i) / d%box(k))
        if (d%x(k, i) >= d%box(k)) d%x(k, i) = d%x(k, i) - d%box(k)
      end do
    end do
    if (d%nranks == 1) return
    allocate(sl(7, d%nlocal), sr(7, d%nlocal))
    nl = 0
    nr = 0
    nkeep = 0
    do i = 1, d%nlocal
      o = domain_owner(d, d%x(1, i))
      if (o == d%rank) then
        nkeep = nkeep + 1
        d%x(:, nkeep) = d%x(:, i)
        d%v(:, nkeep) = d%v(:, i)
        d%gid(nkeep) = d%gid(i)
      else if (o == d%left) then
        nl = nl + 1
        sl(:, nl) = [d%x(:, i), d%v(:, i), real(d%gid(i), dp)]
      else if (o == d%right) then
        nr = nr + 1
        sr(:, nr) = [d%x(:, i), d%v(:, i), real(d%gid(i), dp)]
      else
        ok = .false.
      end if
    end do
    d%nlocal = nkeep
    d%n_sent = d%n_sent + nl + nr
    call shift_data(d, sl, nl, d%left, d%right, 11, rr)
    call shift_data(d, sr, nr, d%right, d%left, 12, rl)
    call take(rr)
    call take(rl)
  contains
    subroutine take(r)
      real(dp), intent(in) :: r(:, :)
      integer :: j
      do j = 1, size(r, 2)
        call domain_add(d, nint(r(7, j)), r(1:3, j), r(4:6, j))
      end do
    end subroutine take
  end subroutine domain_exchange

  ! Send buf(:, 1:n) to rank `dest`, receive whatever `src` sends us.
  subroutine shift_data(d, buf, n, dest, src, tag, got)
    type(domain_t), intent(in) :: d
    real(dp), intent(in) :: buf(:, :)
    integer, intent(in) :: n, dest, src, tag
    real(dp), allocatable, intent(out) :: got(:, :)
    integer :: m, nc
    nc = size(buf, 1)
    call MPI_Sendrecv(n, 1, MPI_INTEGER, dest, tag, m, 1, MPI_INTEGER, src, tag, d%comm, &
        MPI_STATUS_IGNORE)
    allocate(got(nc, m))
    call MPI_Sendrecv(buf, nc * n, MPI_DOUBLE_PRECISION, dest, tag + 100, got, nc * m, &
        MPI_DOUBLE_PRECISION, src, tag + 100, d%comm, MPI_STATUS_IGNORE)
  end subroutine shift_data

  ! Rebuild the ghosts (positions shifted by the periodic image, global ids)
  ! and record the six swaps.
  subroutine domain_borders(d)
    type(domain_t), intent(inout) :: d
    real(dp), allocatable :: buf(:, :), got(:, :)
    real(dp) :: shift
    integer :: dim, dir, s, i, n, nlast, j
    d%nghost = 0
    s = 0
    do dim = 1, 3
      nlast = d%nlocal + d%nghost
      do dir = 1, 2
        s = s + 1
        associate (sw => d%swap(s))
          if (dim == 1) then
            sw%sendto = merge(d%left, d%right, dir == 1)
            sw%recvfrom = merge(d%right, d%left, dir == 1)
          else
            sw%sendto = d%rank
            sw%recvfrom = d%rank
          end if
          ! An atom sent down arrives one box higher when it crosses the
          ! periodic boundary (and one box lower going up).
          shift = 0
          if (dir == 1 .and. d%lo(dim) == 0) shift = d%box(dim)
          if (dir == 2 .and. (dim > 1 .or. d%rank == d%nranks - 1)) shift = -d%box(dim)
          if (allocated(sw%list)) deallocate(sw%list)
          allocate(sw%list(nlast))
          n = 0
          do i = 1, nlast
            if ((dir == 1 .and. d%x(dim, i) < d%lo(dim) + d%rc) .or. &
                (dir == 2 .and. d%x(dim, i) >= d%hi(dim) - d%rc)) then
              n = n + 1
              sw%list(n) = i
            end if
          end do
          sw%nsend = n
          allocate(buf(4, n))
          do j = 1, n
            i = sw%list(j)
            buf(1:3, j) = d%x(:, i)
            buf(dim, j) = buf(dim, j) + shift
            buf(4, j) = real(d%gid(i), dp)
          end do
          call shift_data(d, buf, n, sw%sendto, sw%recvfrom, 20 + s, got)
          sw%nrecv = size(got, 2)
          sw%first = d%nlocal + d%nghost + 1
          call grow(d, d%nlocal + d%nghost + sw%nrecv)
          do j = 1, sw%nrecv
            d%x(:, sw%first + j - 1) = got(1:3, j)
            d%gid(sw%first + j - 1) = nint(got(4, j))
          end do
          d%nghost = d%nghost + sw%nrecv
          deallocate(buf, got)
        end associate
      end do
    end do
  end subroutine domain_borders

  ! Owners' values a(:, 1:nlocal) (and ghosts of earlier swaps) -> ghost columns.
  subroutine forward_comm(d, a)
    type(domain_t), intent(in) :: d
    real(dp), intent(inout) :: a(:, :)
    real(dp), allocatable :: buf(:, :), got(:, :)
    integer :: s, j
    do s = 1, size(d%swap)
      associate (sw => d%swap(s))
        allocate(buf(size(a, 1), sw%nsend))
        do j = 1, sw%nsend
          buf(:, j) = a(:, sw%list(j))
        end do
        call shift_data(d, buf, sw%nsend, sw%sendto, sw%recvfrom, 40 + s, got)
        a(:, sw%first:sw%first + sw%nrecv - 1) = got
        deallocate(buf, got)
      end associate
    end do
  end subroutine forward_comm

  ! Values on ghost columns -> added to the atoms they were copied from, in
  ! the reverse order of the swaps (so a corner ghost's value travels back
  ! through the y/z image it came from to its owner). Ghost columns are
  ! left as they were; only owners' columns are meaningful afterwards.
  subroutine reverse_comm(d, a)
    type(domain_t), intent(in) :: d
    real(dp), intent(inout) :: a(:, :)
    real(dp), allocatable :: got(:, :)
    integer :: s, j
    do s = size(d%swap), 1, -1
      associate (sw => d%swap(s))
        call shift_data(d, a(:, sw%first:sw%first + sw%nrecv - 1), sw%nrecv, sw%recvfrom, &
            sw%sendto, 60 + s, got)
        do j = 1, sw%nsend
          a(:, sw%list(j)) = a(:, sw%list(j)) + got(:, j)
        end do
        deallocate(got)
      end associate
    end do
  end subroutine reverse_comm
end module md_domain
